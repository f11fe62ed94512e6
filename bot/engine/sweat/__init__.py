"""/sweat, the drinking plan from a weigh-in: its configuration (`knowledge/planner.yaml`),
arithmetic and question flow.
"""
