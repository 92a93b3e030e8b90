"""hptui's Textual front end (the console). It is handed a `Store` by `app.make_app` and
reads and writes through it; it holds no SQL, training or statistics logic of its own."""
