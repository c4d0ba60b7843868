"""The engine: the worker's reconcile loop, the order of actions, takeover/release, the heartbeat, the fence."""
