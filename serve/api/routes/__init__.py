"""One router per resource; serve/api/app.py includes them all."""
