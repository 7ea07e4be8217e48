"""The site's machinery, which knows nothing of studies: security headers and sign-in throttling
(``security``), the client's address behind proxies (``addresses``), requests in flight per session
(``floods``), CSV cells safe from formula injection (``csv_safety``), files written whole or not at all
(``files``) and the base of the commands that use the database (``commands``).

It imports no package of the project, so every package may use it.
"""
