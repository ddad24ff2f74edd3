"""Differentially private aggregates (OpenDP) with a privacy budget per analyst.

Analysts never see a record: they get counts and bounded sums per group, each with
noise calibrated by OpenDP to the epsilon (and delta) the answer spends, groups of
fewer than ``k`` true records suppressed, and the spending charged to the analyst's
budget in the store in the same transaction as the audit event of the answer. A
request the budget cannot pay for is refused (and audited); nothing is released.
"""
