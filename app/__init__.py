"""What the pages share: cached resources, widgets, charts, reports, jobs. The only package that imports Streamlit."""
