"""Journey tests (`journeyctl test`): scenarios of profiles and events, with expectations."""
