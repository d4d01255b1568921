"""Contract ABIs and bytecode from forge's output; EIP-712 signed scores."""
