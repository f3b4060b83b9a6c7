"""Scale-out (issue 7): workers and API processes coordinated through Redis."""
