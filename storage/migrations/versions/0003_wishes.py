"""wishes: micro-wishes (微心愿)

Revision ID: 0003_wishes
Revises: 0003_partners
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0003_wishes'
down_revision = '0003_partners'
branch_labels = None
depends_on = None


def upgrade() -> None:
    S = sqlmodel.sql.sqltypes.AutoString
    op.create_table(
        'wishes',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('community_id', sa.Integer(), nullable=False),
        sa.Column('number', sa.Integer(), nullable=False),
        sa.Column('grid_id', sa.Integer(), nullable=True),
        sa.Column('category', S(), nullable=False),
        sa.Column('requester_id', sa.BigInteger(), nullable=False),
        sa.Column('filed_by_id', sa.BigInteger(), nullable=True),
        sa.Column('on_behalf_name', S(), nullable=True),
        sa.Column('title', S(), nullable=False),
        sa.Column('reason', S(), nullable=False),
        sa.Column('budget', sa.Integer(), nullable=False),
        sa.Column('photo', S(), nullable=True),
        sa.Column('contact_note', S(), nullable=True),
        sa.Column('public_text', S(), nullable=True),
        sa.Column('status', S(), nullable=False),
        sa.Column('reject_note', S(), nullable=True),
        sa.Column('screened_by', sa.BigInteger(), nullable=True),
        sa.Column('fulfiller_id', sa.BigInteger(), nullable=True),
        sa.Column('fulfiller_role', S(), nullable=True),
        sa.Column('partner_id', sa.Integer(), nullable=True),
        sa.Column('delivered_photo', S(), nullable=True),
        sa.Column('approved_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column('claimed_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column('delivered_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column('fulfilled_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['community_id'], ['communities.id']),
        sa.ForeignKeyConstraint(['grid_id'], ['grids.id']),
        sa.ForeignKeyConstraint(['partner_id'], ['partners.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('community_id', 'number'),
    )
    op.create_index('ix_wishes_board', 'wishes', ['community_id', 'status'])
    op.create_index('ix_wishes_fulfiller', 'wishes', ['fulfiller_id', 'status'])
    op.create_index('ix_wishes_requester', 'wishes', ['requester_id', 'created_at'])


def downgrade() -> None:
    op.drop_index('ix_wishes_requester', table_name='wishes')
    op.drop_index('ix_wishes_fulfiller', table_name='wishes')
    op.drop_index('ix_wishes_board', table_name='wishes')
    op.drop_table('wishes')
