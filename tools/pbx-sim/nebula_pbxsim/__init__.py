"""pbx-sim: a PBX simulator that speaks ARI like Asterisk 22, held to recorded real traces."""
