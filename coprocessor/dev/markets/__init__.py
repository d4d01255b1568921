"""Real lending markets on the devnet: Aave v3 (``@aave/core-v3`` artifacts), Morpho Blue
(``@morpho-org/morpho-blue`` sources compiled with solc 0.8.19) and a Uniswap v3 pool
(``@uniswap/v3-core`` artifacts), a seeded market simulation on them, and its cache.
See docs/markets.md."""
