from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool
from app.storage.migrations import MIGRATIONS
async def test_smoke(database_url):
    p = AsyncConnectionPool(database_url, kwargs={"autocommit": True, "row_factory": dict_row, "prepare_threshold": 0}, open=False)
    await p.open()
    async with p.connection() as conn:
        for i, m in enumerate(MIGRATIONS):
            try:
                await conn.execute(m)
                print(i, "ok")
            except Exception as e:
                print(i, e)
