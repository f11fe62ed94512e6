"""/sweat, the drinking plan from a weigh-in: its configuration (`knowledge/sweat.yaml`),
arithmetic and question flow.
"""
