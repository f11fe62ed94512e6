"""The knowledge base: its models (questions, rules, conditions, advice) and the one loader for
every YAML file in `knowledge/`.
"""
