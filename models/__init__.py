"""All models, imported here so Alembic and the app see one metadata."""
from models.reference import Province, PROVINCES, ensure_provinces, province_lookup  # noqa: F401
from models.programme import (Category, Division, HistoryConflict, Programme, ProgrammeKind,  # noqa: F401
                              Stage, StageCategory, StageKind)
from models.people import (DeclaredRelation, Judge, JudgeStageDeclaration, Panel, PanelMember, PanelRole, Person,  # noqa: F401
                           RelationKind, Team, TeamMember, Unit)
from models.entries import Entry  # noqa: F401
from models.accounts import JudgeToken, Role, User, hash_token  # noqa: F401
from models.imports import ImportBatch  # noqa: F401
from models.assignment import Assignment, AssignmentRun, DrawRecord, ReassignmentFlag  # noqa: F401
from models.scores import (EntryConfirmation, EntryScoreRecord, EventAction, ScoreEvent, ScoreSheet,  # noqa: F401
                           SheetStatus)
from models.results import (BatchJob, Certificate, CertificateKind, CertificateTemplate, JobStatus,  # noqa: F401
                            Objection, PromotionRecord, Publication, PublicationStatus)
from models.ratelimit import RateLimitHit  # noqa: F401
from models.training import (AttendanceMark, AttendanceStatus, CheckinCode, ComponentMark, Half,  # noqa: F401
                             LeaveRequest, LeaveStatus, Trainee, TrainingSlot)
from models.activities import ActivityReport, ActivityReportEvent  # noqa: F401
from models.resources import (FormatCheckDecision, ResourceAttachment, ResourceCallSettings,  # noqa: F401
                              ResourceStatus, ResourceSubmission)
