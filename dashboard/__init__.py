"""The Streamlit dashboard; it reads only the REST API."""
