"""initial schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-22 07:53:24.954556
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import kith.core.db

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('event_refs',
    sa.Column('org_id', sa.String(length=40), nullable=False),
    sa.Column('record_id', sa.String(length=64), nullable=False),
    sa.Column('event_id', sa.String(length=40), nullable=False),
    sa.PrimaryKeyConstraint('org_id', 'record_id', 'event_id', name=op.f('pk_event_refs'))
    )
    op.create_table('events',
    sa.Column('org_id', sa.String(length=40), nullable=False),
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('type', sa.String(length=80), nullable=False),
    sa.Column('subject_type', sa.String(length=40), nullable=False),
    sa.Column('subject_id', sa.String(length=64), nullable=False),
    sa.Column('actor_type', sa.String(length=20), nullable=False),
    sa.Column('actor_id', sa.String(length=64), nullable=True),
    sa.Column('occurred_at', kith.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('data', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.PrimaryKeyConstraint('org_id', 'id', name=op.f('pk_events'))
    )
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.create_index('ix_events_org_type', ['org_id', 'type', 'id'], unique=False)

    op.create_table('idempotency_keys',
    sa.Column('org_id', sa.String(length=40), nullable=False),
    sa.Column('user_id', sa.String(length=40), nullable=False),
    sa.Column('key', sa.String(length=255), nullable=False),
    sa.Column('fingerprint', sa.String(length=64), nullable=False),
    sa.Column('status', sa.Integer(), nullable=True),
    sa.Column('headers', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('body', sa.LargeBinary(), nullable=True),
    sa.Column('created_at', kith.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('org_id', 'user_id', 'key', name=op.f('pk_idempotency_keys'))
    )
    op.create_table('orgs',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('settings', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('widget_key', sa.String(length=64), nullable=False),
    sa.Column('created_at', kith.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', kith.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('version', sa.Integer(), server_default='1', nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_orgs')),
    sa.UniqueConstraint('name', name=op.f('uq_orgs_name')),
    sa.UniqueConstraint('widget_key', name=op.f('uq_orgs_widget_key'))
    )
    op.create_table('record_tags',
    sa.Column('org_id', sa.String(length=40), nullable=False),
    sa.Column('record_type', sa.String(length=20), nullable=False),
    sa.Column('tag', sa.String(length=64), nullable=False),
    sa.Column('record_id', sa.String(length=40), nullable=False),
    sa.PrimaryKeyConstraint('org_id', 'record_type', 'tag', 'record_id', name=op.f('pk_record_tags'))
    )
    with op.batch_alter_table('record_tags', schema=None) as batch_op:
        batch_op.create_index('ix_record_tags_record', ['org_id', 'record_id'], unique=False)

    op.create_table('trash',
    sa.Column('org_id', sa.String(length=40), nullable=False),
    sa.Column('record_id', sa.String(length=40), nullable=False),
    sa.Column('record_type', sa.String(length=20), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('deleted_at', kith.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('deleted_by', sa.String(length=40), nullable=True),
    sa.Column('links', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.PrimaryKeyConstraint('org_id', 'record_id', name=op.f('pk_trash'))
    )
    with op.batch_alter_table('trash', schema=None) as batch_op:
        batch_op.create_index('ix_trash_deleted', ['org_id', 'deleted_at'], unique=False)

    op.create_table('api_keys',
    sa.Column('org_id', sa.String(length=40), nullable=False),
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('user_id', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('secret_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', kith.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', kith.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['org_id'], ['orgs.id'], name=op.f('fk_api_keys_org_id_orgs')),
    sa.PrimaryKeyConstraint('org_id', 'id', name=op.f('pk_api_keys'))
    )
    with op.batch_alter_table('api_keys', schema=None) as batch_op:
        batch_op.create_index('ix_api_keys_id', ['id'], unique=True)
        batch_op.create_index('ix_api_keys_user', ['org_id', 'user_id'], unique=False)

    op.create_table('companies',
    sa.Column('org_id', sa.String(length=40), nullable=False),
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('external_id', sa.String(length=200), nullable=True),
    sa.Column('domain', sa.String(length=253), nullable=True),
    sa.Column('industry', sa.String(length=100), nullable=True),
    sa.Column('stage', sa.String(length=120), nullable=True),
    sa.Column('deal_value', kith.core.db.Cents(), nullable=True),
    sa.Column('owner_id', sa.String(length=40), nullable=True),
    sa.Column('notes', sa.Text(), nullable=True),
    sa.Column('metadata', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('custom_fields', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('tags', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('is_placeholder', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('website', sa.String(length=2000), nullable=True),
    sa.Column('linkedin_url', sa.String(length=2000), nullable=True),
    sa.Column('employee_count', sa.Integer(), nullable=True),
    sa.Column('annual_revenue', kith.core.db.Cents(), nullable=True),
    sa.Column('country', sa.String(length=2), nullable=True),
    sa.Column('city', sa.String(length=100), nullable=True),
    sa.Column('phone', sa.String(length=50), nullable=True),
    sa.Column('logo_url', sa.String(length=2000), nullable=True),
    sa.Column('enriched_at', kith.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', kith.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', kith.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('deleted_at', kith.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('version', sa.Integer(), server_default='1', nullable=False),
    sa.ForeignKeyConstraint(['org_id'], ['orgs.id'], name=op.f('fk_companies_org_id_orgs')),
    sa.PrimaryKeyConstraint('org_id', 'id', name=op.f('pk_companies'))
    )
    with op.batch_alter_table('companies', schema=None) as batch_op:
        batch_op.create_index('ix_companies_created', ['org_id', 'created_at', 'id'], unique=False)
        batch_op.create_index('ix_companies_industry', ['org_id', 'industry', 'created_at', 'id'], unique=False)
        batch_op.create_index('ix_companies_name', ['org_id', 'name', 'id'], unique=False)
        batch_op.create_index('ix_companies_owner', ['org_id', 'owner_id', 'created_at', 'id'], unique=False)
        batch_op.create_index('ix_companies_stage', ['org_id', 'stage', 'created_at', 'id'], unique=False)
        batch_op.create_index('ix_companies_updated', ['org_id', 'updated_at', 'id'], unique=False)
        batch_op.create_index('ux_companies_domain', ['org_id', 'domain'], unique=True, sqlite_where=sa.text('deleted_at IS NULL AND domain IS NOT NULL'), postgresql_where=sa.text('deleted_at IS NULL AND domain IS NOT NULL'))
        batch_op.create_index('ux_companies_external_id', ['org_id', 'external_id'], unique=True, sqlite_where=sa.text('deleted_at IS NULL AND external_id IS NOT NULL'), postgresql_where=sa.text('deleted_at IS NULL AND external_id IS NOT NULL'))

    op.create_table('contacts',
    sa.Column('org_id', sa.String(length=40), nullable=False),
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('first_name', sa.String(length=100), nullable=True),
    sa.Column('last_name', sa.String(length=100), nullable=True),
    sa.Column('email', sa.String(length=320), nullable=True),
    sa.Column('phone', sa.String(length=50), nullable=True),
    sa.Column('mobile', sa.String(length=50), nullable=True),
    sa.Column('avatar', sa.String(length=2000), nullable=True),
    sa.Column('title', sa.String(length=200), nullable=True),
    sa.Column('department', sa.String(length=200), nullable=True),
    sa.Column('role', sa.String(length=20), nullable=True),
    sa.Column('stage', sa.String(length=20), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('source', sa.String(length=100), nullable=True),
    sa.Column('lead_score', sa.Integer(), server_default='0', nullable=False),
    sa.Column('preferred_channel', sa.String(length=10), nullable=True),
    sa.Column('timezone', sa.String(length=64), nullable=True),
    sa.Column('language', sa.String(length=35), nullable=True),
    sa.Column('manager_id', sa.String(length=40), nullable=True),
    sa.Column('linkedin_url', sa.String(length=2000), nullable=True),
    sa.Column('twitter_handle', sa.String(length=100), nullable=True),
    sa.Column('marketing_consent', sa.String(length=50), nullable=True),
    sa.Column('last_engagement_at', kith.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('owner_id', sa.String(length=40), nullable=True),
    sa.Column('tags', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('notes', sa.Text(), nullable=True),
    sa.Column('metadata', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('custom_fields', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('automation_enabled', sa.Boolean(), server_default=sa.true(), nullable=False),
    sa.Column('last_contacted_at', kith.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', kith.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', kith.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('deleted_at', kith.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('version', sa.Integer(), server_default='1', nullable=False),
    sa.ForeignKeyConstraint(['org_id'], ['orgs.id'], name=op.f('fk_contacts_org_id_orgs')),
    sa.PrimaryKeyConstraint('org_id', 'id', name=op.f('pk_contacts'))
    )
    with op.batch_alter_table('contacts', schema=None) as batch_op:
        batch_op.create_index('ix_contacts_created', ['org_id', 'created_at', 'id'], unique=False)
        batch_op.create_index('ix_contacts_name', ['org_id', 'name', 'id'], unique=False)
        batch_op.create_index('ix_contacts_owner', ['org_id', 'owner_id', 'created_at', 'id'], unique=False)
        batch_op.create_index('ix_contacts_score', ['org_id', 'lead_score', 'id'], unique=False)
        batch_op.create_index('ix_contacts_source', ['org_id', 'source', 'created_at', 'id'], unique=False)
        batch_op.create_index('ix_contacts_stage', ['org_id', 'stage', 'created_at', 'id'], unique=False)
        batch_op.create_index('ix_contacts_status', ['org_id', 'status', 'created_at', 'id'], unique=False)
        batch_op.create_index('ix_contacts_updated', ['org_id', 'updated_at', 'id'], unique=False)
        batch_op.create_index('ux_contacts_email', ['org_id', 'email'], unique=True, sqlite_where=sa.text('deleted_at IS NULL'), postgresql_where=sa.text('deleted_at IS NULL'))

    op.create_table('pipelines',
    sa.Column('org_id', sa.String(length=40), nullable=False),
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('is_default', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('created_at', kith.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', kith.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('version', sa.Integer(), server_default='1', nullable=False),
    sa.ForeignKeyConstraint(['org_id'], ['orgs.id'], name=op.f('fk_pipelines_org_id_orgs')),
    sa.PrimaryKeyConstraint('org_id', 'id', name=op.f('pk_pipelines'))
    )
    with op.batch_alter_table('pipelines', schema=None) as batch_op:
        batch_op.create_index('ix_pipelines_kind', ['org_id', 'kind'], unique=False)

    op.create_table('users',
    sa.Column('org_id', sa.String(length=40), nullable=False),
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('password_hash', sa.String(length=200), nullable=True),
    sa.Column('roles', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('manager_id', sa.String(length=40), nullable=True),
    sa.Column('timezone', sa.String(length=64), nullable=True),
    sa.Column('is_active', sa.Boolean(), server_default=sa.true(), nullable=False),
    sa.Column('created_at', kith.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', kith.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('version', sa.Integer(), server_default='1', nullable=False),
    sa.ForeignKeyConstraint(['org_id'], ['orgs.id'], name=op.f('fk_users_org_id_orgs')),
    sa.PrimaryKeyConstraint('org_id', 'id', name=op.f('pk_users')),
    sa.UniqueConstraint('org_id', 'email', name=op.f('uq_users_org_id_email'))
    )
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.create_index('ix_users_manager', ['org_id', 'manager_id'], unique=False)

    op.create_table('visitors',
    sa.Column('org_id', sa.String(length=40), nullable=False),
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('visitor_id', sa.String(length=200), nullable=False),
    sa.Column('properties', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('contact_id', sa.String(length=40), nullable=True),
    sa.Column('active_company_id', sa.String(length=40), nullable=True),
    sa.Column('first_seen_at', kith.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_seen_at', kith.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['org_id'], ['orgs.id'], name=op.f('fk_visitors_org_id_orgs')),
    sa.PrimaryKeyConstraint('org_id', 'id', name=op.f('pk_visitors')),
    sa.UniqueConstraint('org_id', 'visitor_id', name=op.f('uq_visitors_org_id_visitor_id'))
    )
    with op.batch_alter_table('visitors', schema=None) as batch_op:
        batch_op.create_index('ix_visitors_company', ['org_id', 'active_company_id'], unique=False)
        batch_op.create_index('ix_visitors_contact', ['org_id', 'contact_id'], unique=False)

    op.create_table('contact_companies',
    sa.Column('org_id', sa.String(length=40), nullable=False),
    sa.Column('contact_id', sa.String(length=40), nullable=False),
    sa.Column('company_id', sa.String(length=40), nullable=False),
    sa.Column('is_primary', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('role', sa.String(length=100), nullable=True),
    sa.Column('title', sa.String(length=200), nullable=True),
    sa.Column('created_at', kith.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['org_id', 'company_id'], ['companies.org_id', 'companies.id'], name=op.f('fk_contact_companies_org_id_company_id_companies')),
    sa.ForeignKeyConstraint(['org_id', 'contact_id'], ['contacts.org_id', 'contacts.id'], name=op.f('fk_contact_companies_org_id_contact_id_contacts')),
    sa.PrimaryKeyConstraint('org_id', 'contact_id', 'company_id', name=op.f('pk_contact_companies'))
    )
    with op.batch_alter_table('contact_companies', schema=None) as batch_op:
        batch_op.create_index('ix_contact_companies_company', ['org_id', 'company_id', 'contact_id'], unique=False)

    op.create_table('stages',
    sa.Column('org_id', sa.String(length=40), nullable=False),
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('pipeline_id', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('probability', sa.Integer(), server_default='0', nullable=False),
    sa.Column('rot_period_days', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['org_id', 'pipeline_id'], ['pipelines.org_id', 'pipelines.id'], name=op.f('fk_stages_org_id_pipeline_id_pipelines')),
    sa.PrimaryKeyConstraint('org_id', 'id', name=op.f('pk_stages'))
    )
    with op.batch_alter_table('stages', schema=None) as batch_op:
        batch_op.create_index('ix_stages_pipeline', ['org_id', 'pipeline_id', 'position'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('stages', schema=None) as batch_op:
        batch_op.drop_index('ix_stages_pipeline')

    op.drop_table('stages')
    with op.batch_alter_table('contact_companies', schema=None) as batch_op:
        batch_op.drop_index('ix_contact_companies_company')

    op.drop_table('contact_companies')
    with op.batch_alter_table('visitors', schema=None) as batch_op:
        batch_op.drop_index('ix_visitors_contact')
        batch_op.drop_index('ix_visitors_company')

    op.drop_table('visitors')
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_index('ix_users_manager')

    op.drop_table('users')
    with op.batch_alter_table('pipelines', schema=None) as batch_op:
        batch_op.drop_index('ix_pipelines_kind')

    op.drop_table('pipelines')
    with op.batch_alter_table('contacts', schema=None) as batch_op:
        batch_op.drop_index('ux_contacts_email', sqlite_where=sa.text('deleted_at IS NULL'), postgresql_where=sa.text('deleted_at IS NULL'))
        batch_op.drop_index('ix_contacts_updated')
        batch_op.drop_index('ix_contacts_status')
        batch_op.drop_index('ix_contacts_stage')
        batch_op.drop_index('ix_contacts_source')
        batch_op.drop_index('ix_contacts_score')
        batch_op.drop_index('ix_contacts_owner')
        batch_op.drop_index('ix_contacts_name')
        batch_op.drop_index('ix_contacts_created')

    op.drop_table('contacts')
    with op.batch_alter_table('companies', schema=None) as batch_op:
        batch_op.drop_index('ux_companies_external_id', sqlite_where=sa.text('deleted_at IS NULL AND external_id IS NOT NULL'), postgresql_where=sa.text('deleted_at IS NULL AND external_id IS NOT NULL'))
        batch_op.drop_index('ux_companies_domain', sqlite_where=sa.text('deleted_at IS NULL AND domain IS NOT NULL'), postgresql_where=sa.text('deleted_at IS NULL AND domain IS NOT NULL'))
        batch_op.drop_index('ix_companies_updated')
        batch_op.drop_index('ix_companies_stage')
        batch_op.drop_index('ix_companies_owner')
        batch_op.drop_index('ix_companies_name')
        batch_op.drop_index('ix_companies_industry')
        batch_op.drop_index('ix_companies_created')

    op.drop_table('companies')
    with op.batch_alter_table('api_keys', schema=None) as batch_op:
        batch_op.drop_index('ix_api_keys_user')
        batch_op.drop_index('ix_api_keys_id')

    op.drop_table('api_keys')
    with op.batch_alter_table('trash', schema=None) as batch_op:
        batch_op.drop_index('ix_trash_deleted')

    op.drop_table('trash')
    with op.batch_alter_table('record_tags', schema=None) as batch_op:
        batch_op.drop_index('ix_record_tags_record')

    op.drop_table('record_tags')
    op.drop_table('orgs')
    op.drop_table('idempotency_keys')
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.drop_index('ix_events_org_type')

    op.drop_table('events')
    op.drop_table('event_refs')
