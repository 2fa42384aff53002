"""The console: server-rendered pages for the people who work tickets (sign-in, the
board, a ticket with its timeline and actions), in Chinese and English."""
