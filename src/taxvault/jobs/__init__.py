"""Jobs: orchestration over the domains (the posting cycle; matching runs and scans to come).

A job strings domain functions together and acts through the door as a named
system principal: each step is one unit of work (its decisions, its writes and its
audit events commit together). Domains never import ``jobs``; jobs import domains.
"""
