"""The application and everything around it. The folders, from the bottom layer up:
application/ (the use cases), readside/ (queries on the projections), automation/ and
ops/ (process managers; health and metrics), edge/ (NATS and HTTP), runtime/ (running
the parts), bootstrap.py (the composition root), cli/ (the `ticketflow` command)."""
