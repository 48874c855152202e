"""The Mesa agents of the market (owners, platform, buyers) and their decision rules."""
