"""replyall-storm model: the world (organisation, users, mail transport, engines, ODE)."""
