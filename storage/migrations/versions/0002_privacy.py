"""privacy: the audience of audit notes; invitations bound to a Telegram id

Revision ID: 0002_privacy
Revises: 0001
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0002_privacy'
down_revision = '0002_names'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        # Existing notes are treated as restricted: nothing written before becomes public.
        batch_op.add_column(sa.Column('audience', sqlmodel.sql.sqltypes.AutoString(length=12), nullable=False,
                                      server_default='restricted'))
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.alter_column('audience', server_default=None)
    with op.batch_alter_table('invitations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('for_user_id', sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('invitations', schema=None) as batch_op:
        batch_op.drop_column('for_user_id')
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.drop_column('audience')
