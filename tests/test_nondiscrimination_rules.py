"""The ADP and ACP tests and their correction by refund (pytest_planwise.nondiscrimination) on constructed people,
every expected amount derived by hand in the comments.

The ten people of the failing ADP test, under a tiered match of 100 % of the deferral up to 4 % of pay:
  seven non-HCEs N1-N7 paid $50,000, deferring 2, 3, 4, 4, 5, 5, 5 % (1,000 ... 2,500), matched min(deferral, 2,000);
  H1 paid $100,001 deferring $10,010.00, matched 4 % of pay = $4,000.04;
  H2 paid $340,000 deferring $13,770.00 (4.05 %), matched 4 % of pay = $13,600.00;
  H3 paid $320,000 deferring $13,568.01, matched 4 % of pay = $12,800.00.
Non-HCE ratios sum to 0.28, so N = 0.28 / 7 = 0.0400 and the limit is max(0.05, min(0.08, 0.0600)) = 0.0600.
HCE ratios: 10,010 / 100,001 = 0.100099 -> 0.1001; 13,770 / 340,000 = 0.0405; 13,568.01 / 320,000 = 0.04240003 ->
0.0424; average 0.1830 / 3 = 0.0610: the test fails by 0.1 point.
"""

from decimal import Decimal as D
from fractions import Fraction

import pytest

from pytest_planwise import nondiscrimination as nd
from pytest_planwise.nondiscrimination import Person

TIERED = {"employer_match.formula": "tiered", "employer_match.tiers": [(1.0, 0.04)],
          "employer_match.max_match_amount": None}
NHCE_DEFERRALS = ["1000", "1500", "2000", "2000", "2500", "2500", "2500"]
NHCES = [Person(f"N{n}", False, D(50000), D(deferral), min(D(deferral), D(2000)), 3)
         for n, deferral in enumerate(NHCE_DEFERRALS, 1)]
HCES = [Person("H1", True, D(100001), D("10010.00"), D("4000.04"), 8),
        Person("H2", True, D(340000), D("13770.00"), D("13600.00"), 8),
        Person("H3", True, D(320000), D("13568.01"), D("12800.00"), 8)]
TEN = NHCES + HCES


def pair(nhce_deferral: str, hce_deferral: str) -> list[Person]:
    """One non-HCE and one HCE paid $10,000 each, no match: each ratio is the deferral / 10,000 exactly."""
    return [Person("N", False, D(10000), D(nhce_deferral), D(0), 1),
            Person("H", True, D(10000), D(hce_deferral), D(0), 1)]


def test_ratios_and_averages_round_half_up_to_hundredths_of_a_percent():
    assert nd.ratio(D(10005), D(100000)) == D("0.1001")  # 0.10005: half up (half to even would give 0.1000)
    assert nd.ratio(D("10010.00"), D(100001)) == D("0.1001")  # 0.100099
    assert nd.ratio(D("13568.01"), D(320000)) == D("0.0424")  # 0.04240003
    assert nd.average([D("0.0001"), D("0.0002")]) == D("0.0002")  # 0.00015, half up
    assert nd.average([D("0.0200"), D("0.0300")] + [D("0.0400")] * 5) == D("0.0357")  # 0.25 / 7 = 0.035714


@pytest.mark.parametrize("nhce_average, limit", [
    ("0.02", "0.04"),     # max(0.025, min(0.04, 0.04)): 2 N, where 2 N and N + 2 points meet
    ("0.015", "0.03"),    # max(0.01875, min(0.03, 0.035)): 2 N strictly below N + 2 points
    ("0.06", "0.08"),     # max(0.075, min(0.12, 0.08)): N + 2 points
    ("0.10", "0.125"),    # max(0.125, min(0.20, 0.12)): 1.25 N
])
def test_the_limit_at_each_branch(nhce_average, limit):
    assert nd.test_limit(D(nhce_average)) == D(limit)


@pytest.mark.parametrize("nhce_deferral, at_limit", [("200", "400"), ("600", "800"), ("1000", "1250")])
def test_an_hce_average_at_the_limit_passes_and_one_hundredth_of_a_point_above_fails(nhce_deferral, at_limit):
    # N = 0.02, 0.06, 0.10 -> limits 0.04, 0.08, 0.125 (above): HCE deferrals of 400, 800, 1,250 on $10,000 sit on it
    adp, _ = nd.year_tests(pair(nhce_deferral, at_limit), TIERED)
    assert (adp.passed, adp.margin, adp.corrective_amount) == (True, 0, 0)
    adp, _ = nd.year_tests(pair(nhce_deferral, str(D(at_limit) + 1)), TIERED)
    # one dollar more is 0.0001 above; the lone HCE is capped at the limit, so the dollar is the excess
    assert (adp.passed, adp.margin, adp.corrective_amount, adp.refunds) == (False, D("-0.0001"), D("1.00"),
                                                                           {"H": D("1.00")})


def test_leveling_by_percentage_brings_the_hce_mean_to_the_limit():
    # 3 L = 0.18: capping only H1 gives c = 0.18 - 0.0405 - 0.0424 = 0.0971, above the next ratio 0.0424
    assert nd.level_by_percentage([D("0.1001"), D("0.0405"), D("0.0424")], D("0.06")) == Fraction("0.0971")
    # 4 L = 0.12: one capped gives 0.12 - 0.11 = 0.01 < 0.05, two give (0.12 - 0.06) / 2 = 0.03 < 0.05, three give
    # (0.12 - 0.01) / 3 = 11/300 >= 0.01: an exact fraction, not a rounded one
    assert nd.level_by_percentage([D("0.05")] * 3 + [D("0.01")], D("0.03")) == Fraction(11, 300)


def test_leveling_by_dollars_gives_a_tie_s_missing_cent_to_the_lower_employee_id():
    # m = (200.00 - 0.01) / 2 = 99.995: both shares of 0.005 floor to 0.00 and the missing cent goes to "A"
    assert nd.level_by_dollars({"B": D("100.00"), "A": D("100.00")}, D("0.01")) == {"A": D("0.01")}


def test_a_failed_adp_test_is_leveled_refunded_and_its_match_forfeited():
    adp, acp = nd.year_tests(TEN, TIERED)
    assert (adp.test, adp.hce_count, adp.nhce_count) == ("ADP", 3, 7)
    assert (adp.hce_average, adp.nhce_average, adp.limit) == (D("0.0610"), D("0.0400"), D("0.06"))
    assert (adp.passed, adp.margin, adp.exempt_reason) == (False, D("-0.0010"), None)
    # cap 0.0971 (test above): H1's excess 10,010 - 0.0971 x 100,001 = 10,010 - 9,710.0971 = 299.9029 -> 299.90;
    # H2 and H3 are below the cap (0.0971 x 340,000 and x 320,000 exceed their deferrals): E = 299.90
    assert adp.corrective_amount == D("299.90")
    # by dollars: H2 alone would come down to 13,770 - 299.90 = 13,470.10, below H3's 13,568.01, so both come down to
    # m = (13,770 + 13,568.01 - 299.90) / 2 = 13,519.055, above H1's 10,010; H2 250.945 -> 250.94, H3 48.955 ->
    # 48.95: 299.89, the missing cent to H2, the highest deferral: 250.95 + 48.95 = 299.90
    assert adp.refunds == {"H2": D("250.95"), "H3": D("48.95")}
    # H2 keeps 13,770 - 250.95 = 13,519.05 < 4 % x 340,000 = 13,600: match 13,519.05, forfeits 80.95; H3 keeps
    # 13,568.01 - 48.95 = 13,519.06 > 12,800 = 4 % x 320,000: its match stays
    assert adp.forfeited_match == D("80.95")
    # ACP on the match after forfeiture: non-HCEs 0.02, 0.03, 0.04 x 5 -> 0.25 / 7 = 0.0357, limit max(0.044625,
    # min(0.0714, 0.0557)) = 0.0557; HCEs 4,000.04 / 100,001 = 0.0400, 13,519.05 / 340,000 = 0.039762 -> 0.0398,
    # 12,800 / 320,000 = 0.0400: 0.1198 / 3 = 0.03993 -> 0.0399 (0.0400 without the forfeiture)
    assert (acp.test, acp.hce_average, acp.nhce_average, acp.limit) == ("ACP", D("0.0399"), D("0.0357"), D("0.0557"))
    assert (acp.passed, acp.margin, acp.corrective_amount, acp.forfeited_match, acp.refunds) == \
        (True, D("0.0158"), 0, 0, {})


@pytest.mark.parametrize("raise_to, nhce_average, passed", [
    ("1100", "0.0403", False),  # +0.2 point: 0.282 / 7 = 0.040286 -> limit 0.0603, still 0.07 point short
    ("1300", "0.0409", False),  # +0.6 point: 0.286 / 7 = 0.040857 -> limit 0.0609, 0.01 point short
    ("1350", "0.0410", True),   # +0.7 point: 0.287 / 7 = 0.041 -> limit 0.0610, the HCE average exactly
])
def test_raising_one_non_hce_s_deferral_lifts_the_limit(raise_to, nhce_average, passed):
    # on the N + 2 points branch the limit rises by a seventh of the raise: 0.7 point of N1's pay is the least
    # (in whole dollars) that covers the 0.1 point the test fails by
    raised = [Person("N1", False, D(50000), D(raise_to), min(D(raise_to), D(2000)), 3)] + TEN[1:]
    adp, _ = nd.year_tests(raised, TIERED)
    assert (adp.nhce_average, adp.passed) == (D(nhce_average), passed)
    assert (adp.corrective_amount == 0) == passed


def test_a_safe_harbor_match_exempts_both_tests_but_still_reports_the_averages():
    adp, acp = nd.year_tests(TEN, {**TIERED, "employer_match.formula": "safe_harbor_basic"})
    assert (adp.passed, adp.exempt_reason, adp.corrective_amount, adp.forfeited_match, adp.refunds) == \
        (True, "safe harbor", 0, 0, {})
    assert (adp.hce_count, adp.nhce_count, adp.hce_average, adp.nhce_average) == (3, 7, D("0.0610"), D("0.0400"))
    # nothing forfeited, so every HCE's match is 4 % of pay: 0.0400
    assert (acp.passed, acp.exempt_reason, acp.corrective_amount, acp.refunds) == (True, "safe harbor", 0, {})
    assert (acp.hce_average, acp.nhce_average) == (D("0.0400"), D("0.0357"))


def test_no_hces_and_no_non_hces_exempt_with_the_empty_group_s_average_none():
    for result in nd.year_tests(NHCES, TIERED):
        assert (result.passed, result.exempt_reason, result.hce_count, result.nhce_count) == (True, "no HCEs", 0, 7)
        assert (result.hce_average, result.margin, result.corrective_amount) == (None, None, 0)
    adp, _ = nd.year_tests(NHCES, TIERED)
    assert (adp.nhce_average, adp.limit) == (D("0.0400"), D("0.06"))
    adp, acp = nd.year_tests(HCES, TIERED)
    assert (adp.exempt_reason, adp.nhce_average, adp.limit, adp.hce_average) == ("no non-HCEs", None, None, D("0.0610"))
    assert (acp.exempt_reason, acp.passed) == ("no non-HCEs", True)


def test_prior_year_testing_takes_the_limit_from_the_given_non_hce_average():
    prior = {"ADP": D("0.0410"), "ACP": None}
    adp, acp = nd.year_tests(TEN, TIERED, "prior_year", prior)
    # limit 0.0410 + 0.02 = 0.0610 = the HCE average; the reported non-HCE average is still this year's 0.0400
    assert (adp.limit, adp.passed, adp.margin, adp.nhce_average) == (D("0.0610"), True, 0, D("0.0400"))
    # no prior ACP average (the first simulated year): this year's 0.0357 -> 0.0557; nothing refunded, so the HCE
    # matches are 4 % of pay: margin 0.0557 - 0.0400
    assert (acp.limit, acp.passed, acp.margin) == (D("0.0557"), True, D("0.0157"))
    adp, _ = nd.year_tests(TEN, TIERED, "current_year", prior)  # current_year ignores the prior averages
    assert (adp.limit, adp.passed) == (D("0.06"), False)


def test_a_failed_acp_test_is_leveled_on_the_match_dollars():
    # a service-tiered match: 25 % of the deferral up to 4 % of pay under 10 years, 100 % from 10 years
    cfg = {"employer_match.formula": "service_tiered", "employer_match.max_match_amount": None,
           "employer_match.service_tiers": [(0, [(0.25, 0.04)]), (10, [(1.0, 0.04)])]}
    people = [Person(f"N{n}", False, D(50000), D(2000), D(500), 2) for n in range(1, 5)] + [
        Person("HA", True, D(200000), D(8000), D(8000), 12), Person("HB", True, D(120000), D(3600), D(3600), 15)]
    adp, acp = nd.year_tests(people, cfg)
    # ADP: N = 0.04 -> limit 0.06; HCEs (0.04 + 0.03) / 2 = 0.035: passes
    assert (adp.passed, adp.hce_average, adp.margin, adp.corrective_amount) == (True, D("0.0350"), D("0.025"), 0)
    # ACP: N = 500 / 50,000 = 0.01 -> limit max(0.0125, min(0.02, 0.03)) = 0.02; HCEs (0.04 + 0.03) / 2 = 0.035
    assert (acp.passed, acp.hce_average, acp.limit, acp.margin) == (False, D("0.0350"), D("0.02"), D("-0.015"))
    # cap: 2 L = 0.04; HA alone 0.04 - 0.03 = 0.01 < 0.03, both 0.04 / 2 = 0.02; excess HA 8,000 - 0.02 x 200,000 =
    # 4,000, HB 3,600 - 0.02 x 120,000 = 1,200: 5,200. By dollars: HA alone 8,000 - 5,200 = 2,800 < 3,600, both
    # (8,000 + 3,600 - 5,200) / 2 = 3,200: HA 4,800, HB 400
    assert (acp.corrective_amount, acp.forfeited_match, acp.refunds) == \
        (D("5200.00"), 0, {"HA": D("4800.00"), "HB": D("400.00")})


def test_an_average_failing_only_by_rounding_up_is_not_leveled():
    # N = 0.0803 -> limit max(0.100375, min(0.1606, 0.1003)) = 0.100375, the 1.25 N branch off the 4-place grid;
    # HCE ratios 0.1003 and 0.1004 average 0.10035 -> 0.1004 (half up), which fails, yet their exact mean is under
    # the limit: no cap reaches it, so the cap is the highest ratio 0.1004, which lowers nobody
    # (1,004 - 0.1004 x 10,000 = 0)
    people = [*pair("803", "1003"), Person("H2", True, D(10000), D(1004), D(0), 1)]
    assert nd.level_by_percentage([D("0.1003"), D("0.1004")], D("0.100375")) == Fraction("0.1004")
    adp, _ = nd.year_tests(people, TIERED)
    assert (adp.hce_average, adp.limit, adp.passed, adp.corrective_amount, adp.refunds) == \
        (D("0.1004"), D("0.100375"), False, 0, {})
