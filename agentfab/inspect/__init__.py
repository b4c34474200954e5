"""Look at a finished build: a terminal summary, one trajectory as a conversation, a self-contained HTML report."""

from agentfab.inspect.render import find_row, render_trajectory
from agentfab.inspect.report import write_report
from agentfab.inspect.summary import summarize

__all__ = ["find_row", "render_trajectory", "summarize", "write_report"]
