"""What runs in a simulated container: nothing, but by rules."""
