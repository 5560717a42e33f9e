"""Detection: find players and the ball (or moving regions), track them, fill the gaps."""
