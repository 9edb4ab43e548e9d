"""What a reader gets: slide summaries, cell tables, annotated images, the HTML report, label exports."""
