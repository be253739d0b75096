"""a convention's title in other languages and its text's machine translations (#16)

Revision ID: 0004_names16
Revises: 0004_audit_bigint
"""
from alembic import op
import sqlalchemy as sa


revision = '0004_names16'
down_revision = '0004_audit_bigint'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('conventions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('names', sa.JSON(), server_default='{}', nullable=False))
        batch_op.add_column(sa.Column('text_names', sa.JSON(), server_default='{}', nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('conventions', schema=None) as batch_op:
        batch_op.drop_column('text_names')
        batch_op.drop_column('names')
