import uuid, psycopg, pytest
from market_assets.db import migrate, bootstrap
from resources.postgres import conninfo_for
pytestmark = [pytest.mark.integration]

def test_pglite_trgm(timescale_url):
    bootstrap.ensure_extensions(timescale_url, ("timescaledb",))
    schema = f"ts_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(conninfo_for(timescale_url), autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    migrate.upgrade(timescale_url, schema)
    with psycopg.connect(conninfo_for(timescale_url), autocommit=True) as conn:
        print(conn.execute("SELECT extname FROM pg_extension").fetchall())
        print(conn.execute("SELECT indexname FROM pg_indexes WHERE tablename='companies' AND schemaname=%s", (schema,)).fetchall())
        conn.execute(f"DROP SCHEMA {schema} CASCADE")
