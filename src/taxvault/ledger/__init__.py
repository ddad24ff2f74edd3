"""The ledger: transaction codes, posting rules, balances, penalties and interest.

Balances are never stored: they are sums of posted transactions, so they cannot
drift from the record they summarise.
"""
