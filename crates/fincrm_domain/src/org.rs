//! The organisation: the bank → branch → sub-branch tree, staff, and who covers which customer.

use crate::{BranchId, CustomerId, UserId, party::string_enum};
use serde::{Deserialize, Serialize};

string_enum!(
    /// A node's level in the bank's organisation tree.
    BranchLevel, "level" {
        /// 总行.
        HeadOffice = "head_office",
        /// 分行.
        Branch = "branch",
        /// 支行.
        SubBranch = "sub_branch",
    }
);

/// A node of the organisation tree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Branch {
    /// Branch code.
    pub id: BranchId,
    /// Name, e.g. 杭州分行.
    pub name: String,
    /// Parent node; `None` for the head office.
    pub parent: Option<BranchId>,
    /// Level in the tree.
    pub level: BranchLevel,
}

string_enum!(
    /// A staff role. What each may see and do is the permission matrix of the security core.
    StaffRole, "role" {
        /// 系统管理员.
        Admin = "admin",
        /// 总行分析.
        HeadOfficeAnalyst = "head_office_analyst",
        /// 支行行长 / 部门负责人.
        BranchManager = "branch_manager",
        /// 客户经理.
        RelationshipManager = "relationship_manager",
        /// 客服.
        ServiceAgent = "service_agent",
        /// 风险经理.
        RiskOfficer = "risk_officer",
        /// 营销.
        Marketing = "marketing",
        /// 内审 / 合规.
        Auditor = "auditor",
    }
);

/// A member of staff.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// Employee number.
    pub id: UserId,
    /// Display name.
    pub name: String,
    /// The branch the user belongs to.
    pub branch_id: BranchId,
    /// Role.
    pub role: StaffRole,
}

string_enum!(
    /// How a member of staff covers a customer.
    CoverageRole, "coverage_role" {
        /// The primary relationship manager (主办客户经理).
        Primary = "primary",
        /// A co-covering RM (协办客户经理).
        CoRm = "co_rm",
        /// A product specialist on the coverage team.
        ProductSpecialist = "product_specialist",
        /// A credit / risk manager on the coverage team.
        RiskManager = "risk_manager",
    }
);

/// One line of an RM's book: a user covering a customer in a role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Coverage {
    /// The customer covered.
    pub customer_id: CustomerId,
    /// The user covering them.
    pub user_id: UserId,
    /// In which role.
    pub role: CoverageRole,
}
