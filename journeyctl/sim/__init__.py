"""The simulator host: replays event logs through the engine on a virtual clock."""
