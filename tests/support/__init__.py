"""What the test tiers share: brokers, ledgers, servers, stories and hostile inputs."""
