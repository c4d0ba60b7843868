"""The real-kernel lab (Linux network namespaces): the network half of a failover, measured."""
