"""pytest_planwise: the pytest plugin that builds, shares and checks PlanWise simulation runs."""
