"""One file per dashboard page, run by the router (dashboard/app.py). Not named ``pages/``: next
to the main script that name makes Streamlit run a page file on its own, bypassing the router."""
