"""Search controllers: budget, driver, strategies. Knows no HTTP and no backend.

Import from the modules (`search.driver`, `search.registry`, `search.strategy`, ...): the package re-exports nothing."""
