"""Listing 9.5 grown into the whole REST API: Flask 3 and psycopg2, one connection pool per gunicorn worker."""
