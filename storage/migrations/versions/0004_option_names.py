"""a council vote's options named in other languages (#16)

Revision ID: 0004_option_names
Revises: 0003_services
"""
from alembic import op
import sqlalchemy as sa


revision = '0004_option_names'
down_revision = '0003_services'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('proposals', schema=None) as batch_op:
        batch_op.add_column(sa.Column('option_names', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('proposals', schema=None) as batch_op:
        batch_op.drop_column('option_names')
