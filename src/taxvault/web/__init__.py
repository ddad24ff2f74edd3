"""The console: server-rendered pages (Jinja2 + htmx) on the API's app, through the same door.

Why a package of its own: the console is an HTTP edge like ``api/`` (it may import FastAPI),
but every page reads taxpayer data only through :mod:`taxvault.access.door`, with the
channel ``web``, so each page view is decided and audited exactly like the API call it
mirrors. See /docs of the repository (docs/console.md) and ``web/router.py`` for the layout.
"""
