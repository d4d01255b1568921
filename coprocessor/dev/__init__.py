"""Local development chains: anvil processes and the simulated lending market."""
