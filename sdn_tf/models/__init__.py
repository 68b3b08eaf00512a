"""Networks: the frozen VGG19 teacher and the student that mirrors it."""
