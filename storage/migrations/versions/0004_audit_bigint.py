"""audit_events.entity_id holds chat and person ids too: 64-bit (a supergroup's id does not fit in
32 bits, so binding one failed on PostgreSQL)

Revision ID: 0004_audit_bigint
Revises: 0004_option_names
"""
from alembic import op
import sqlalchemy as sa


revision = '0004_audit_bigint'
down_revision = '0004_option_names'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.alter_column('entity_id', existing_type=sa.Integer(), type_=sa.BigInteger(), existing_nullable=False)


def downgrade() -> None:
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.alter_column('entity_id', existing_type=sa.BigInteger(), type_=sa.Integer(), existing_nullable=False)
