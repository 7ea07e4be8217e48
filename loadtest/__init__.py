"""``make loadtest``: many simulated participants label at once against gunicorn and PostgreSQL
while a worker is killed and the database connections are cut, and afterwards the database is checked
answer by answer against what the server acknowledged (nothing the server acknowledged may be lost)."""
