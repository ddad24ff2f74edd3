"""The console's pages, one module per role; each has a ``router`` from :func:`taxvault.web.kit.page_router`."""
