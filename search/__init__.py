"""Search controllers: budget, driver, strategies. Knows no HTTP and no backend."""
