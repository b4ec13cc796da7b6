"""Every Jira REST path the gateway calls, as named templates in one place.

Templates double as the endpoint names that rate-limit pauses are keyed by (Jira's burst limit is per endpoint)."""

from __future__ import annotations

# Platform REST API, version 2 (plain wiki text; version 3 would return Atlassian Document Format).
SERVER_INFO = "rest/api/2/serverInfo"
MYSELF = "rest/api/2/myself"  # the account the bridge acts as
FIELDS = "rest/api/2/field"
SEARCH_CLOUD = "rest/api/2/search/jql"  # Cloud: nextPageToken paging, no total; /search answers 410 there
SEARCH_DATA_CENTER = "rest/api/2/search"  # Data Center: startAt/maxResults paging
ISSUE = "rest/api/2/issue/{key}"
ISSUE_CHANGELOG = "rest/api/2/issue/{key}/changelog"  # Cloud only; Data Center uses expand=changelog
ISSUE_COMMENTS = "rest/api/2/issue/{key}/comment"
ISSUE_TRANSITIONS = "rest/api/2/issue/{key}/transitions"
ISSUE_ASSIGNEE = "rest/api/2/issue/{key}/assignee"
ISSUE_PROPERTY = "rest/api/2/issue/{key}/properties/{name}"

# Jira Service Management REST API.
REQUEST = "rest/servicedeskapi/request/{key}"
REQUEST_COMMENT = "rest/servicedeskapi/request/{key}/comment"
REQUEST_SLA = "rest/servicedeskapi/request/{key}/sla"

# The issue property where done action keys are kept, the comment property naming the action that
# posted a comment ({"key": <action key>}), and the JSM comment visibility property.
DONE_PROPERTY = "jsm-bridge.actions"
ACTION_COMMENT_PROPERTY = "jsm-bridge.action"
SD_PUBLIC_COMMENT = "sd.public.comment"
