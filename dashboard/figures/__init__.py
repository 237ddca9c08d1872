"""Pure builders: API data (plain JSON values) in, plotly figures and table rows out; no I/O."""
