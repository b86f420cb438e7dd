"""The value columns of each source's delivered files, all read as text."""

ATTENDANCE_COLUMNS = ("attendance_id", "student_id", "session_date", "status")
ASSESSMENT_COLUMNS = ("assessment_id", "student_id", "subject", "score", "max_score", "assessed_on")
VALUE_COLUMNS: dict[str, tuple[str, ...]] = {"attendance": ATTENDANCE_COLUMNS, "assessments": ASSESSMENT_COLUMNS}
