"""People who sign in, and the roles they hold."""

from __future__ import annotations

from datetime import datetime, time
from enum import StrEnum

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Time
from sqlalchemy.orm import Mapped, mapped_column, relationship

from grants.models.base import Base, UTCDateTime, enum_column, utcnow


class Role(StrEnum):
    """What a user may do; a user may hold several."""

    ADMIN = "admin"
    MANAGER = "manager"
    FINANCE = "finance"
    AMBASSADOR = "ambassador"
    RECIPIENT = "recipient"
    NAVIGATOR = "navigator"
    """Partner staff (such as Backline's) who curate the resource hub and answer their
    partner's help desk."""
    PARTNER = "partner"
    """Staff of a partner nonprofit: they apply to funding rounds and report on their own
    organisation's grants."""

    @property
    def label(self) -> str:
        """The role's name as shown to people."""
        return self.value.capitalize()


ROLE_PRIORITY: tuple[Role, ...] = (
    Role.ADMIN,
    Role.MANAGER,
    Role.FINANCE,
    Role.NAVIGATOR,
    Role.PARTNER,
    Role.AMBASSADOR,
    Role.RECIPIENT,
)
"""The order in which a user's roles are listed and their home dashboard is chosen."""

DEFAULT_DAILY_EMAIL_TIME = time(8)
"""The time of a person's day from which their daily email goes until they choose one."""


class User(Base):
    """A person who can sign in.

    Emails are stored normalised to lower case, and a CHECK constraint holds them there, so
    the unique constraint on the column makes them unique regardless of case.
    """

    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint("email = lower(email)", name="email_lower_case"),
        CheckConstraint("length(display_name) > 0", name="display_name_not_empty"),
        Index("ix_users_display_name_id", "display_name", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    display_name: Mapped[str] = mapped_column(String(120))
    password_hash: Mapped[str | None] = mapped_column(String(255))
    """``None`` for a person who has not set a password yet: they cannot sign in."""
    active: Mapped[bool] = mapped_column(default=True)
    locale: Mapped[str] = mapped_column(String(16), default="en_US")
    time_zone: Mapped[str | None] = mapped_column(String(64))
    """An IANA name such as ``Europe/London``, chosen on the profile page; ``None`` until
    chosen, when the one that follows from the person's country or locale applies."""
    daily_email_time: Mapped[time] = mapped_column(
        Time(), default=DEFAULT_DAILY_EMAIL_TIME, server_default="08:00:00"
    )
    """The time of day, in the person's time zone, from which their daily email (and a
    finance officer's digest) goes; chosen in the email settings."""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    partner_id: Mapped[int | None] = mapped_column(ForeignKey("partners.id"))
    """The partner organisation a navigator or a partner works for: a navigator answers its
    help desk, a partner applies and reports for it."""
    session_version: Mapped[int] = mapped_column(default=1, server_default="1")
    """Stored in each session at sign-in; moving it on (signing out, a new password,
    deactivation) ends every session that carries an earlier one, on every device."""

    role_grants: Mapped[list[UserRole]] = relationship(
        back_populates="user", cascade="all, delete-orphan", lazy="selectin"
    )

    @property
    def roles(self) -> list[Role]:
        """The user's roles, in :data:`ROLE_PRIORITY` order."""
        held = {grant.role for grant in self.role_grants}
        return [role for role in ROLE_PRIORITY if role in held]

    def has_role(self, *roles: Role) -> bool:
        """Whether the user holds at least one of ``roles``."""
        return any(grant.role in roles for grant in self.role_grants)

    def grant_role(self, role: Role) -> None:
        """Give the user ``role``; holding it already is not an error."""
        if not self.has_role(role):
            self.role_grants.append(UserRole(role=role))

    # Flask-Login's user interface.
    @property
    def is_active(self) -> bool:
        """Deactivated users cannot sign in, and their open sessions stop working."""
        return self.active

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self) -> str:
        return str(self.id)

    def __repr__(self) -> str:
        return f"<User {self.id} {self.email}>"


class UserRole(Base):
    """One role held by one user."""

    __tablename__ = "user_roles"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    role: Mapped[Role] = mapped_column(enum_column(Role, "role"), primary_key=True)

    user: Mapped[User] = relationship(back_populates="role_grants")
